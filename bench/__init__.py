"""rmapbench: benchmark suite for the KVM shadow-MMU reverse map (pte_list)."""

__version__ = "0.1.0"
