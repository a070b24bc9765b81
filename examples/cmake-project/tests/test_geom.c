#include <math.h>

#include "geom/shapes.h"
#include "geom/stats.h"

/* Returns the number of failed checks, so the C++ driver can report it. */
int run_geom_tests(void) {
  int failures = 0;
  rect box = {{1.0, 1.0}, {3.0, 5.0}};
  vec2 center = rect_center(box);
  double values[3] = {1.0, 2.0, 6.0};
  vec2 a = {1.0, 2.0};
  vec2 b = {3.0, 4.0};
  failures += fabs(rect_area(box) - 8.0) > 1e-9;
  failures += fabs(center.x - 2.0) > 1e-9 || fabs(center.y - 3.0) > 1e-9;
  failures += fabs(stats_mean(values, 3) - 3.0) > 1e-9;
  failures += fabs(stats_max(values, 3) - 6.0) > 1e-9;
  failures += fabs(vec2_dot(a, b) - 11.0) > 1e-9;
  return failures;
}
