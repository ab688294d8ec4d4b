"""Meta-RL benchmarks of DREAM (Sec. 6, App. B.1): the problem-family interface and the envs.

``make(name, **config)`` returns a :class:`MetaProblemFamily`; names: "vanilla_bus",
"distracting_bus", "map", "cooking", "cooking_no_goals" and "sign" (the MiniWorld 3D task;
miniworld is imported only when a sign env is built). Reference values (optimal,
no-exploration, PEARL-UB returns) are in :mod:`deep.envs.reference_values`.
"""

from deep.envs import bandit, city, cooking, sign
from deep.envs.city import BatchedCityEnv, CityConfig, CityEnv, CityFamily
from deep.envs.cooking import BatchedCookingEnv, CookingConfig, CookingEnv, CookingFamily
from deep.envs.problem import NO_GOAL, MetaProblemFamily, Trial, make, registered_names

__all__ = [
    "NO_GOAL",
    "BatchedCityEnv",
    "BatchedCookingEnv",
    "CityConfig",
    "CityEnv",
    "CityFamily",
    "CookingConfig",
    "CookingEnv",
    "CookingFamily",
    "MetaProblemFamily",
    "Trial",
    "bandit",
    "city",
    "cooking",
    "make",
    "registered_names",
    "sign",
]
