"""Words the benchmarks build their generated posts from."""

WORDS = [
    "council",
    "budget",
    "resident",
    "service",
    "data",
    "partnership",
    "housing",
    "library",
    "trust",
    "evidence",
    "policy",
    "reform",
    "local",
    "health",
    "care",
    "school",
    "transport",
    "planning",
    "community",
    "digital",
]
