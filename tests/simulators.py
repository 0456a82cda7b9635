"""Plain NumPy simulators of the generative models, independent of bayesnn.processes,
shared by the tests that check references against data they did not generate."""
import numpy as np


def gillespie_trial(rng, r_on, r_off, q_on, q_off, duration):
    """Independent continuous-time simulator (Gillespie 1976), events sorted."""
    t, x = 0.0, rng.random() < r_on / (r_on + r_off)
    times, channels = [], []
    while True:
        rates = q_on if x else q_off
        total = rates.sum() + (r_off if x else r_on)
        t += rng.exponential(1 / total)
        if t > duration:
            break
        u = rng.random() * total
        if u < rates.sum():
            channels.append(int(np.searchsorted(np.cumsum(rates), u)))
            times.append(t)
        else:
            x = not x
    return np.array(times), np.array(channels)


def binned_trial(rng, r_on, r_off, q_on, q_off, dt, n_bins):
    """Independent simulator of the discrete model (x_0 stationary, then move + emit)."""
    a_on = r_on / (r_on + r_off) * -np.expm1(-(r_on + r_off) * dt)
    a_off = r_off / (r_on + r_off) * -np.expm1(-(r_on + r_off) * dt)
    x = rng.random() < r_on / (r_on + r_off)
    states = np.empty(n_bins, dtype=bool)
    for k in range(n_bins):
        x = rng.random() < ((1 - a_off) if x else a_on)
        states[k] = x
    rates = np.where(states[:, None], q_on, q_off) * dt
    return states, rng.poisson(rates).astype(float)


def gillespie_spikes(rng, params, duration, capacity=None):
    """:func:`gillespie_trial` for an MMPPParams record, as a bayesnn.core.Spikes
    (the container only; the draws are this module's own)."""
    from bayesnn.core import make_spikes

    q_on, q_off = np.asarray(params.q_on), np.asarray(params.q_off)
    times, channels = gillespie_trial(rng, float(params.r_on), float(params.r_off), q_on,
                                      q_off, duration)
    return make_spikes(times, channels, n_senders=q_on.size, duration=duration,
                       capacity=capacity)
