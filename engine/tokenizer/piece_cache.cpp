#include "tokenizer/piece_cache.h"

#include <cstring>

namespace hlwq {

uint64_t PieceCache::hash(std::string_view s) {
  // FNV-1a, with the length mixed in; 0 is reserved for empty slots.
  uint64_t h = 1469598103934665603ull ^ s.size();
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  h ^= h >> 29;
  return h ? h : 1;
}

bool PieceCache::get(std::string_view piece, std::vector<int32_t>& out) const {
  if (piece.size() > kMaxPiece) return false;
  const uint64_t h = hash(piece);
  std::lock_guard lock(mutex_);
  for (std::size_t i = h & (kSlots - 1);; i = (i + 1) & (kSlots - 1)) {
    const Slot& s = slots_[i];
    if (s.hash == 0) return false;
    if (s.hash == h && s.key_size == piece.size() && std::memcmp(keys_.data() + s.key_offset, piece.data(), piece.size()) == 0) {
      out.insert(out.end(), ids_.begin() + s.ids_offset, ids_.begin() + s.ids_offset + s.ids_size);
      return true;
    }
  }
}

void PieceCache::put(std::string_view piece, const int32_t* ids, std::size_t n) {
  if (piece.size() > kMaxPiece || n > UINT16_MAX) return;
  const uint64_t h = hash(piece);
  std::lock_guard lock(mutex_);
  if (entries_ >= kMaxEntries || keys_.size() + piece.size() > UINT32_MAX || ids_.size() + n > UINT32_MAX) clear();
  std::size_t i = h & (kSlots - 1);
  for (;; i = (i + 1) & (kSlots - 1)) {
    const Slot& s = slots_[i];
    if (s.hash == 0) break;
    if (s.hash == h && s.key_size == piece.size() && std::memcmp(keys_.data() + s.key_offset, piece.data(), piece.size()) == 0) return;
  }
  Slot& s = slots_[i];
  s.hash = h;
  s.key_offset = static_cast<uint32_t>(keys_.size());
  s.key_size = static_cast<uint16_t>(piece.size());
  s.ids_offset = static_cast<uint32_t>(ids_.size());
  s.ids_size = static_cast<uint16_t>(n);
  keys_.append(piece);
  ids_.insert(ids_.end(), ids, ids + n);
  ++entries_;
}

void PieceCache::clear() {
  std::fill(slots_.begin(), slots_.end(), Slot{});
  keys_.clear();
  ids_.clear();
  entries_ = 0;
}

}  // namespace hlwq
