"""The benchmark runner: environments, interleaved measurement, statistics, reports."""
