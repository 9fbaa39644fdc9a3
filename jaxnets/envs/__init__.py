"""Simulated environments (pure JAX, `lax.scan`-able and `vmap`-able over traces)."""
from jaxnets.envs.abr import (ABR, BITRATES_KBPS, ChunkInfo, Episode, MPCCarry, Policy,
                              SimState, Trace, bba_policy, download_chunk, episode_qoe,
                              mpc_policy, observe, qoe_reward, random_policy, rollout)

__all__ = ["ABR", "BITRATES_KBPS", "ChunkInfo", "Episode", "MPCCarry", "Policy", "SimState",
           "Trace", "bba_policy", "download_chunk", "episode_qoe", "mpc_policy", "observe",
           "qoe_reward", "random_policy", "rollout"]
