#include "fixtures.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
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

namespace {

// Little-endian records: u32 counts, UTF-8 text, i32 ids; any short read is a truncated file.
class Reader {
 public:
  explicit Reader(const fs::path& file) : in_(file, std::ios::binary), file_(file) {
    if (!in_) throw std::runtime_error("cannot open " + file.string());
  }
  bool at_end() { return in_.peek() == std::ifstream::traits_type::eof(); }
  uint32_t u32() {
    uint32_t v = 0;
    read(&v, 4);
    return v;
  }
  unsigned char u8() {
    unsigned char v = 0;
    read(&v, 1);
    return v;
  }
  std::string text() {
    std::string s(u32(), '\0');
    read(s.data(), s.size());
    return s;
  }
  std::vector<int32_t> ids() {
    std::vector<int32_t> v(u32());
    read(v.data(), v.size() * 4);
    return v;
  }
  std::vector<Tokenizer::ByteRange> ranges() {
    std::vector<Tokenizer::ByteRange> v(u32());
    for (auto& r : v) {
      r.begin = u32();
      r.end = u32();
    }
    return v;
  }

 private:
  void read(void* to, std::size_t n) {
    if (!in_.read(static_cast<char*>(to), static_cast<std::streamsize>(n))) throw std::runtime_error("truncated " + file_.string());
  }
  std::ifstream in_;
  fs::path file_;
};

}  // namespace

std::vector<Case> read_cases(const fs::path& file) {
  Reader r(file);
  std::vector<Case> out;
  while (!r.at_end()) {
    Case c;
    c.kind = r.u8();
    c.text = r.text();
    c.ids = r.ids();
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<PromptCase> read_prompt_cases(const fs::path& file) {
  Reader r(file);
  std::vector<PromptCase> out;
  while (!r.at_end()) {
    PromptCase c;
    c.text = r.text();
    c.contents = r.ranges();
    c.forged = r.ranges();
    c.ids = r.ids();
    out.push_back(std::move(c));
  }
  return out;
}

std::string show_ids(const std::vector<int32_t>& ids) {
  std::ostringstream s;
  for (std::size_t i = 0; i < ids.size() && i < 64; ++i) s << (i ? "," : "") << ids[i];
  if (ids.size() > 64) s << ",...(" << ids.size() << ")";
  return s.str();
}

}  // namespace hlwq::test
