//! Running steps: the build loop, processes, status output, job limits.
