"""Learning in spike-coding networks (Brendel et al. 2020, PLoS Comput. Biol.
16(3):e1007692): spike-by-spike plasticity of the one-population network
(:mod:`.plasticity`) and of the E/I network (:mod:`.plasticity_dale`), the learning
loops (:mod:`.training`, :mod:`.training_dale`), frozen-network evaluation
(:mod:`.evaluation`), bounded-memory statistics (:mod:`.statistics`), input signals
(:mod:`.signals`), gradient descent through a differentiable gate (:mod:`.surrogate`),
the ``scn_learning`` validation scenario and its figures. Theory: docs/scn_learning.md.
"""
from bayesnn.scn.learning.evaluation import Evaluation, best_fixed_point, evaluate_weights
from bayesnn.scn.learning.plasticity import (
    LearningParams,
    LearningState,
    brendel_fig2_params,
    brendel_fig2_weights,
    fixed_point,
    init_learning_state,
    learning_inputs,
    plastic_step,
    weight_distance,
)
from bayesnn.scn.learning.plasticity_dale import (
    DaleLearningParams,
    DaleLearningState,
    brendel_dale_weights,
    dale_learning_inputs,
    dale_plastic_step,
    init_dale_learning_state,
    sign_violations,
)
from bayesnn.scn.learning.signals import SmoothedNoise, smoothed_noise
from bayesnn.scn.learning.surrogate import GateParams, TrainResult, gated_loss, gated_run, gradient_check, train_gated
from bayesnn.scn.learning.training import LearningDivergedError, LearningResult, learn
from bayesnn.scn.learning.training_dale import DaleEvaluation, DaleLearningResult, evaluate_dale, learn_dale

__all__ = [
    "LearningParams", "LearningState", "brendel_fig2_params", "brendel_fig2_weights",
    "init_learning_state", "learning_inputs", "plastic_step", "weight_distance", "fixed_point",
    "DaleLearningParams", "DaleLearningState", "brendel_dale_weights", "init_dale_learning_state",
    "dale_learning_inputs", "dale_plastic_step", "sign_violations",
    "SmoothedNoise", "smoothed_noise",
    "learn", "LearningResult", "LearningDivergedError",
    "learn_dale", "DaleLearningResult", "evaluate_dale", "DaleEvaluation",
    "evaluate_weights", "Evaluation", "best_fixed_point",
    "GateParams", "gated_run", "gated_loss", "gradient_check", "train_gated", "TrainResult",
]
