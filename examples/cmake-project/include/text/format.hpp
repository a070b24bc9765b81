#ifndef ZCDEMO_TEXT_FORMAT_HPP
#define ZCDEMO_TEXT_FORMAT_HPP

#include <string>

#include "geom/shapes.h"

namespace text {

std::string format_vec(vec2 v);
std::string format_rect(rect r);

}  // namespace text

#endif
