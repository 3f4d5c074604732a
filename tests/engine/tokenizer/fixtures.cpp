#include "fixtures.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <stdexcept>

namespace hlwq::test {

namespace fs = std::filesystem;

std::optional<fs::path> reference_fixtures(std::string* why) {
  const char* ref = std::getenv("HLWQ_REFERENCE_DATA");
  if (!ref || !*ref) {
    *why = "HLWQ_REFERENCE_DATA is not set";
    return std::nullopt;
  }
  const fs::path dir = HLWQ_TOKENIZER_FIXTURE_DIR;
  fs::create_directories(dir);
  const int lock = ::open((dir / ".lock").c_str(), O_CREAT | O_RDWR, 0644);
  if (lock < 0 || ::flock(lock, LOCK_EX) != 0) throw std::runtime_error("cannot lock " + (dir / ".lock").string());
  // Rebuild when the script or a module beside it is newer than the last build (or the build
  // never finished).
  const fs::path stamp = dir / "done";
  const fs::path script = HLWQ_TOKENIZER_FIXTURE_SCRIPT;
  auto newest = fs::last_write_time(script);
  for (const auto& e : fs::directory_iterator(script.parent_path()))
    if (e.path().extension() == ".py") newest = std::max(newest, e.last_write_time());
  if (!fs::exists(stamp) || fs::last_write_time(stamp) < newest) {
    fs::remove(stamp);
    const std::string cmd = std::string("'") + HLWQ_VENV_PYTHON + "' '" + script.string() + "' --reference '" + ref + "' --out '" +
                            dir.string() + "' > '" + (dir / "log.txt").string() + "' 2>&1";
    const int rc = std::system(cmd.c_str());
    if (rc != 0) {
      ::close(lock);
      throw std::runtime_error("fixture script failed (" + std::to_string(rc) + "), see " + (dir / "log.txt").string());
    }
    std::ofstream(stamp) << "ok\n";
  }
  ::close(lock);
  return dir;
}

std::vector<Case> read_cases(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + file.string());
  std::vector<Case> out;
  auto u32 = [&](uint32_t& v) { return static_cast<bool>(in.read(reinterpret_cast<char*>(&v), 4)); };
  for (;;) {
    unsigned char kind;
    if (!in.read(reinterpret_cast<char*>(&kind), 1)) break;
    Case c;
    c.kind = kind;
    uint32_t n = 0;
    if (!u32(n)) throw std::runtime_error("truncated " + file.string());
    c.text.resize(n);
    in.read(c.text.data(), n);
    if (!u32(n)) throw std::runtime_error("truncated " + file.string());
    c.ids.resize(n);
    in.read(reinterpret_cast<char*>(c.ids.data()), static_cast<std::streamsize>(n) * 4);
    if (!in) throw std::runtime_error("truncated " + file.string());
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<PromptCase> read_prompt_cases(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + file.string());
  std::vector<PromptCase> out;
  auto u32 = [&](uint32_t& v) { return static_cast<bool>(in.read(reinterpret_cast<char*>(&v), 4)); };
  auto ranges = [&](std::vector<Tokenizer::ByteRange>& rs) {
    uint32_t n = 0, b = 0, e = 0;
    if (!u32(n)) throw std::runtime_error("truncated " + file.string());
    for (uint32_t i = 0; i < n; ++i) {
      if (!u32(b) || !u32(e)) throw std::runtime_error("truncated " + file.string());
      rs.push_back({b, e});
    }
  };
  for (uint32_t n = 0; u32(n);) {
    PromptCase c;
    c.text.resize(n);
    in.read(c.text.data(), n);
    ranges(c.contents);
    ranges(c.forged);
    if (!u32(n)) throw std::runtime_error("truncated " + file.string());
    c.ids.resize(n);
    in.read(reinterpret_cast<char*>(c.ids.data()), static_cast<std::streamsize>(n) * 4);
    if (!in) throw std::runtime_error("truncated " + file.string());
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace hlwq::test
