#include "text/greeter.hpp"

#include "common/config.h"
#include "greetings_table.h"

namespace text {

std::size_t greeting_count() { return GREETING_COUNT; }

std::string greet(std::size_t index, const std::string &name) {
  std::string who = name.substr(0, ZCDEMO_MAX_NAME);
  return std::string(greeting_table[index % GREETING_COUNT]) + ", " + who + "!";
}

const char *library_version() { return ZCDEMO_VERSION; }

}  // namespace text
