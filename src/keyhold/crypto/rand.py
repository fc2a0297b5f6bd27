"""Where random bytes come from. Production uses the OS CSPRNG; known-answer tests inject fixed bytes."""

import os
from collections.abc import Callable

RandomSource = Callable[[int], bytes]
"""A function returning n random bytes."""

system_random: RandomSource = os.urandom
