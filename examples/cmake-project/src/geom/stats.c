#include "geom/stats.h"

double stats_mean(const double *values, size_t count) {
  double sum = 0.0;
  size_t i;
  if (count == 0) {
    return 0.0;
  }
  for (i = 0; i < count; ++i) {
    sum += values[i];
  }
  return sum / (double)count;
}

double stats_max(const double *values, size_t count) {
  double best;
  size_t i;
  if (count == 0) {
    return 0.0;
  }
  best = values[0];
  for (i = 1; i < count; ++i) {
    if (values[i] > best) {
      best = values[i];
    }
  }
  return best;
}
