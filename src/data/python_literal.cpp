// RouterBench's cells hold Python list literals of strings: read with answers/python_literal.
#include "answers/python_literal.h"

#include "core/error.h"
#include "data/load.h"

namespace smacs {

std::vector<std::string> parse_python_str_list(const std::string& text) {
  const auto value = parse_python_literal(text);
  if (!value || value->type != PyValue::Type::kList)
    throw Error("expected a Python list literal of strings '[...]'");
  std::vector<std::string> items;
  for (const auto& item : value->items) {
    if (item.type != PyValue::Type::kStr)
      throw Error("expected a quoted string in Python list literal");
    items.push_back(item.text);
  }
  return items;
}

}  // namespace smacs
