#include "text/format.hpp"

#include <cstdio>

extern "C" {
#include "geom/stats.h"
}

namespace text {

std::string format_vec(vec2 v) {
  char buffer[ZCDEMO_MAX_NAME];
  std::snprintf(buffer, sizeof buffer, "(%.2f, %.2f)", v.x, v.y);
  return buffer;
}

std::string format_rect(rect r) {
  double sides[2] = {r.max.x - r.min.x, r.max.y - r.min.y};
  return format_vec(r.min) + "-" + format_vec(r.max) +
         " longest side " + std::to_string(stats_max(sides, 2));
}

}  // namespace text
