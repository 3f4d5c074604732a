#pragma once
// Piece -> ids cache for BPE. Prose repeats its words, so most pieces skip the merge loop.
// An open-addressing table over two arenas (keys, ids): one probe usually touches one slot
// and one key, where a node-based std::unordered_map chases three pointers. When full it
// starts over (the working set of a text refills it quickly).
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace hlwq {

class PieceCache {
 public:
  static constexpr std::size_t kMaxPiece = 256;

  // Appends the cached ids of `piece` to out and returns true, or returns false.
  bool get(std::string_view piece, std::vector<int32_t>& out) const;
  void put(std::string_view piece, const int32_t* ids, std::size_t n);

 private:
  struct Slot {
    uint64_t hash = 0;  // 0: empty
    uint32_t key_offset = 0, ids_offset = 0;
    uint16_t key_size = 0, ids_size = 0;
  };
  static constexpr std::size_t kSlots = 1 << 17;          // power of two (3 MiB of slots)
  static constexpr std::size_t kMaxEntries = kSlots / 2;  // keeps probe chains short
  static uint64_t hash(std::string_view s);
  void clear();

  mutable std::mutex mutex_;
  std::vector<Slot> slots_ = std::vector<Slot>(kSlots);
  std::string keys_;
  std::vector<int32_t> ids_;
  std::size_t entries_ = 0;
};

}  // namespace hlwq
