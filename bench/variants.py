"""The variants of DESIGN.md section 3: names, source files, default EXT."""

from .errors import UsageError

# name -> (C source under native/, default PTE_LIST_EXT)
VARIANTS: dict[str, tuple[str, int]] = {
    "old": ("pte_list_old.c", 3),
    "new": ("pte_list_new.c", 3),
    "new-fixed": ("pte_list_new_fixed.c", 3),
    "kvm-2021": ("pte_list_kvm2021.c", 14),
    "kvm-2023": ("pte_list_kvm2023.c", 14),
    # kvm-2023 walked top down in each descriptor: miss-free for a lockless
    # walker (docs/check.md)
    "kvm-2023-lf": ("pte_list_kvm2023_lf.c", 14),
}

EXT_MIN, EXT_MAX = 2, 64


def check_variant(name: str) -> str:
    if name not in VARIANTS:
        raise UsageError(
            f"unknown variant {name!r}: allowed are {', '.join(VARIANTS)}")
    return name


def parse_variants(text: str) -> list[str]:
    names = [v.strip() for v in text.split(",")]
    if not text.strip() or any(not v for v in names):
        raise UsageError(
            f"bad variant list {text!r}: give names separated by commas, from {', '.join(VARIANTS)}")
    return [check_variant(v) for v in names]


def default_ext(name: str) -> int:
    return VARIANTS[check_variant(name)][1]


def check_ext(ext: int | str) -> int:
    try:
        value = int(ext)
    except (TypeError, ValueError):
        raise UsageError(f"bad EXT {ext!r}: an integer from {EXT_MIN} to {EXT_MAX} is allowed") from None
    if not EXT_MIN <= value <= EXT_MAX:
        raise UsageError(f"EXT {value} out of range: {EXT_MIN} to {EXT_MAX} is allowed")
    return value
