#pragma once
// Runs the Python reference (tools/template_ref/render_reference.py) and loads its JSON.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace hlwq::chat::test {

// std::nullopt when the venv Python is missing (the caller skips).
std::optional<nlohmann::ordered_json> run_reference(const std::vector<std::string>& args, const std::string& out_name);

std::string reference_data_dir();  // $HLWQ_REFERENCE_DATA or ""
std::filesystem::path test_dir();  // tests/engine/chat in the source tree

}  // namespace hlwq::chat::test
