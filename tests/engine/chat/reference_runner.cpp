#include "reference_runner.h"

#include <cstdlib>
#include <fstream>

#include <gtest/gtest.h>

namespace hlwq::chat::test {

std::string reference_data_dir() {
  const char* v = std::getenv("HLWQ_REFERENCE_DATA");
  return v ? v : "";
}

std::filesystem::path test_dir() { return HLWQ_CHAT_TEST_DIR; }

std::optional<nlohmann::ordered_json> run_reference(const std::vector<std::string>& args, const std::string& out_name) {
  if (!std::filesystem::exists(HLWQ_VENV_PYTHON)) return std::nullopt;
  std::filesystem::path out = std::filesystem::path(HLWQ_CHAT_TEST_OUT) / out_name;
  std::string cmd = std::string("'") + HLWQ_VENV_PYTHON + "' '" + HLWQ_TEMPLATE_REF_SCRIPT + "'";
  for (const auto& a : args) {
    std::string arg = a == "@OUT" ? out.string() : a;
    cmd += " '" + arg + "'";
  }
  int rc = std::system(cmd.c_str());
  EXPECT_EQ(rc, 0) << cmd;
  if (rc != 0) return std::nullopt;
  std::ifstream in(out);
  return nlohmann::ordered_json::parse(in);
}

}  // namespace hlwq::chat::test
