"""What the rehearsal reads of a bot container's memory cgroup (deploy/rehearsal/observe.py)."""

from __future__ import annotations

import pytest

from deploy.rehearsal.observe import charged_memory

V1 = """cache 10485760
rss 44040192
rss_huge 0
mapped_file 8388608
hierarchical_memory_limit 402653184
total_cache 10485760
total_rss 44040192
"""

V2 = """anon 44040192
file 10485760
kernel 1048576
file_mapped 8388608
"""


def test_cgroup_v1_charges_rss_and_cache() -> None:
    assert charged_memory(V1) == (44040192, 10485760)


def test_cgroup_v2_charges_anon_and_file() -> None:
    assert charged_memory(V2) == (44040192, 10485760)


def test_a_stat_without_either_is_refused() -> None:
    with pytest.raises(ValueError, match=r"memory\.stat without"):
        charged_memory("pgfault 12\npgmajfault 0\n")
