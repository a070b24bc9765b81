#ifndef ZCDEMO_TEXT_GREETER_HPP
#define ZCDEMO_TEXT_GREETER_HPP

#include <cstddef>
#include <string>

namespace text {

std::size_t greeting_count();
std::string greet(std::size_t index, const std::string &name);
const char *library_version();

}  // namespace text

#endif
