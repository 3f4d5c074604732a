// safetensors reader/writer: round trips, shards, and every malformed input the issue lists.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "core/error.h"
#include "formats/safetensors.h"
#include "temp_dir.h"

using namespace hlwq;
using hlwq::test::TempDir;

namespace {

// A file built by hand from a header string and a data size, independent of our writer.
void write_raw(const std::filesystem::path& p, const std::string& header, std::size_t data_bytes,
               uint64_t claimed_len = UINT64_MAX) {
  std::ofstream out(p, std::ios::binary);
  uint64_t n = claimed_len == UINT64_MAX ? header.size() : claimed_len;
  char len[8];
  for (int i = 0; i < 8; ++i) len[i] = char(n >> (8 * i));
  out.write(len, 8);
  out << header;
  for (std::size_t i = 0; i < data_bytes; ++i) out.put(char(i));
}

ErrorKind kind_of(const std::function<void()>& fn, std::string* message = nullptr) {
  try {
    fn();
  } catch (const Error& e) {
    if (message) *message = e.what();
    return e.kind();
  }
  ADD_FAILURE() << "no Error thrown";
  return ErrorKind::Internal;
}

}  // namespace

TEST(Safetensors, ReadsAHandWrittenFile) {
  TempDir d;
  write_raw(d / "a.safetensors",
            R"({"__metadata__":{"format":"pt"},"b":{"dtype":"I32","shape":[2],"data_offsets":[4,12]},)"
            R"("a":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}})",
            12);
  SafetensorsFile f(d / "a.safetensors");
  ASSERT_EQ(f.entries().size(), 2u);
  EXPECT_EQ(f.entries()[0].name, "a");  // file order
  EXPECT_EQ(f.metadata().at("format"), "pt");
  const auto b = f.tensor("b");
  EXPECT_EQ(b.dtype, DType::I32);
  EXPECT_EQ(b.shape, std::vector<int64_t>{2});
  ASSERT_EQ(b.bytes.size(), 8u);
  EXPECT_EQ(int(b.bytes[0]), 4);  // data byte i holds i
  EXPECT_EQ(kind_of([&] { f.tensor("zzz"); }), ErrorKind::MissingTensor);
}

TEST(Safetensors, WriterRoundTripsEveryDtype) {
  TempDir d;
  std::vector<std::vector<std::byte>> bufs;
  std::vector<DenseTensor> ts;
  const DType all[] = {DType::BF16, DType::F16, DType::F32, DType::U8, DType::I8, DType::I32, DType::I64};
  for (DType dt : all) {
    auto& buf = bufs.emplace_back(3 * 5 * dtype_size(dt));
    for (std::size_t i = 0; i < buf.size(); ++i) buf[i] = std::byte(i * 7 + int(dt));
    ts.push_back({std::string("t_") + dtype_name(dt), dt, {3, 5}, buf});
  }
  ts.push_back({"empty", DType::F32, {0, 4}, {}});
  write_safetensors(d / "m.safetensors", ts, {{"k", "v"}});
  EXPECT_FALSE(std::filesystem::exists(d / "m.safetensors.partial"));
  SafetensorsFile f(d / "m.safetensors");
  for (const auto& t : ts) {
    const auto r = f.tensor(t.name);
    EXPECT_EQ(r.dtype, t.dtype);
    EXPECT_EQ(r.shape, t.shape);
    EXPECT_TRUE(std::equal(r.bytes.begin(), r.bytes.end(), t.bytes.begin(), t.bytes.end())) << t.name;
  }
  // The data section starts 8-byte aligned.
  std::ifstream in(d / "m.safetensors", std::ios::binary);
  uint64_t n = 0;
  in.read(reinterpret_cast<char*>(&n), 8);
  EXPECT_EQ(n % 8, 0u);
}

TEST(Safetensors, ShardedSetThroughTheIndex) {
  TempDir d;
  std::vector<std::byte> a(8, std::byte{1}), b(4, std::byte{2});
  write_safetensors(d / "model-00001-of-00002.safetensors", {{"x", DType::F32, {2}, a}});
  write_safetensors(d / "model-00002-of-00002.safetensors", {{"y", DType::F32, {1}, b}});
  write_safetensors_index(d.path(), {{"x", "model-00001-of-00002.safetensors"}, {"y", "model-00002-of-00002.safetensors"}}, 12);
  for (const auto& p : {d.path(), d / "model.safetensors.index.json"}) {
    const auto set = SafetensorsSet::open(p);
    EXPECT_EQ(set.names(), (std::vector<std::string>{"x", "y"}));
    EXPECT_EQ(set.tensor("y").bytes.size(), 4u);
    WeightStore store;
    set.add_all_to(store);
    EXPECT_TRUE(store.dense("x"));
    EXPECT_EQ(store.resident_bytes(), 12u);
  }
}

TEST(Safetensors, IndexNamingAMissingShardOrTensor) {
  TempDir d;
  std::vector<std::byte> a(8);
  write_safetensors(d / "s1.safetensors", {{"x", DType::F32, {2}, a}});
  write_safetensors_index(d.path(), {{"x", "s1.safetensors"}, {"y", "s2.safetensors"}}, 8);
  std::string msg;
  EXPECT_EQ(kind_of([&] { SafetensorsSet::open(d.path()); }, &msg), ErrorKind::MissingTensor);
  EXPECT_NE(msg.find("s2.safetensors"), std::string::npos);
  write_safetensors_index(d.path(), {{"x", "s1.safetensors"}, {"y", "s1.safetensors"}}, 8);
  EXPECT_EQ(kind_of([&] { SafetensorsSet::open(d.path()); }, &msg), ErrorKind::MissingTensor);
  EXPECT_NE(msg.find("y"), std::string::npos);
  write_safetensors_index(d.path(), {{"x", "../etc/passwd"}}, 8);
  EXPECT_EQ(kind_of([&] { SafetensorsSet::open(d.path()); }), ErrorKind::BadJson);
}

TEST(Safetensors, DuplicateTensorAcrossShards) {
  TempDir d;
  std::vector<std::byte> a(8);
  write_safetensors(d / "a.safetensors", {{"x", DType::F32, {2}, a}});
  write_safetensors(d / "b.safetensors", {{"x", DType::F32, {2}, a}});
  EXPECT_EQ(kind_of([&] { SafetensorsSet::open(d.path()); }), ErrorKind::CorruptFile);
}

struct Malformed {
  const char* what;
  std::string header;
  std::size_t data;
  uint64_t claimed_len;
  const char* must_mention;
};

TEST(Safetensors, MalformedFilesAreTypedErrorsNamingFileAndTensor) {
  const Malformed cases[] = {
      {"header length past EOF", R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 4, 1u << 30, "past the end"},
      {"header length huge", R"({})", 0, UINT64_MAX - 3, "past the end"},
      {"bad JSON", R"({"a":{"dtype":"F32",)", 0, UINT64_MAX, "JSON"},
      {"not an object", R"([1,2])", 0, UINT64_MAX, "object"},
      {"truncated data", R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 10, UINT64_MAX, "w"},
      {"overlapping spans", R"({"p":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"q":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12, UINT64_MAX, "overlaps"},
      {"wrong dtype", R"({"w":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}})", 8, UINT64_MAX, "F64"},
      {"shape mismatch", R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8, UINT64_MAX, "w"},
      {"negative dim", R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,8]}})", 8, UINT64_MAX, "w"},
      {"shape overflow", R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}})", 8, UINT64_MAX, "w"},
      {"end before begin", R"({"w":{"dtype":"U8","shape":[0],"data_offsets":[8,0]}})", 8, UINT64_MAX, "w"},
      {"missing dtype", R"({"w":{"shape":[1],"data_offsets":[0,1]}})", 1, UINT64_MAX, "dtype"},
      {"metadata not strings", R"({"__metadata__":{"a":1}})", 0, UINT64_MAX, "__metadata__"},
  };
  TempDir d;
  for (const auto& c : cases) {
    const auto p = d / "bad.safetensors";
    write_raw(p, c.header, c.data, c.claimed_len);
    std::string msg;
    EXPECT_EQ(kind_of([&] { SafetensorsFile f(p); }, &msg), ErrorKind::CorruptFile) << c.what;
    EXPECT_NE(msg.find("bad.safetensors"), std::string::npos) << c.what << ": " << msg;
    EXPECT_NE(msg.find(c.must_mention), std::string::npos) << c.what << ": " << msg;
  }
  // Shorter than the length field itself.
  { std::ofstream(d / "tiny.safetensors") << "abc"; }
  EXPECT_EQ(kind_of([&] { SafetensorsFile f(d / "tiny.safetensors"); }), ErrorKind::CorruptFile);
  EXPECT_EQ(kind_of([&] { SafetensorsFile f(d / "absent.safetensors"); }), ErrorKind::Io);
}

TEST(Safetensors, EveryTruncationOfAValidFileIsAnError) {
  TempDir d;
  std::vector<std::byte> a(64, std::byte{3});
  write_safetensors(d / "ok.safetensors", {{"x", DType::F32, {16}, a}});
  std::ifstream in(d / "ok.safetensors", std::ios::binary);
  const std::string all((std::istreambuf_iterator<char>(in)), {});
  for (std::size_t len = 0; len < all.size(); ++len) {
    std::ofstream(d / "cut.safetensors", std::ios::binary) << all.substr(0, len);
    EXPECT_EQ(kind_of([&] { SafetensorsFile f(d / "cut.safetensors"); }), ErrorKind::CorruptFile) << len;
  }
}

TEST(Safetensors, WriterChecksOrderAndSizes) {
  TempDir d;
  std::vector<std::byte> a(8);
  {
    SafetensorsWriter w(d / "w.safetensors", {{"x", DType::F32, {2}}, {"y", DType::F32, {2}}});
    EXPECT_THROW(w.write_tensor("y", a), Error);
    EXPECT_THROW(w.write_tensor("x", std::span(a).first(4)), Error);
    w.write_tensor("x", a);
    EXPECT_THROW(w.finish(), Error);  // y never written
  }
  // An abandoned writer leaves neither the file nor its partial.
  EXPECT_FALSE(std::filesystem::exists(d / "w.safetensors"));
  EXPECT_FALSE(std::filesystem::exists(d / "w.safetensors.partial"));
}
