// The agent's state file (datapath/state_file.h).
#include "datapath/state_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "core/fd.h"
#include "core/text.h"

namespace sealnet::agent {

std::string format_state(const SavedState& s) {
  std::string out = "# sealnet agent state: docs/xfrm-design.md \"Generations\"\nversion 1\n";
  out += "node " + std::to_string(s.node) + "\n";
  for (const auto& [slot, g] : s.slots)
    out += "slot " + std::to_string(slot) + " generation " + std::to_string(g) + "\n";
  for (const auto& [peer, slots] : s.peers)
    for (const auto& [slot, g] : slots)
      out += "peer " + std::to_string(peer) + " slot " + std::to_string(slot) + " generation " +
             std::to_string(g) + "\n";
  return out;
}

Result<SavedState> parse_state(std::string_view text, const std::string& source) {
  SavedState s;
  bool version = false, node = false;
  size_t line_no = 0;
  auto bad = [&](const std::string& what) {
    return fail(EINVAL, "parse agent state", source + ":" + std::to_string(line_no),
                what + " (fix or remove the file only if no peer holds this node's old SPIs: "
                       "docs/xfrm-design.md \"Generations\")");
  };
  if (!text.empty() && text.back() != '\n') {
    line_no = static_cast<size_t>(std::count(text.begin(), text.end(), '\n')) + 1;
    return bad("the last line has no newline: a truncated file");
  }
  while (!text.empty()) {
    ++line_no;
    const size_t nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl + 1);
    if (line.empty() || line.front() == '#') continue;
    std::vector<std::string_view> w;
    for (size_t i = 0; i < line.size();) {
      const size_t j = line.find(' ', i);
      w.push_back(line.substr(i, j == std::string_view::npos ? std::string_view::npos : j - i));
      if (j == std::string_view::npos) break;
      i = j + 1;
    }
    auto num = [&](std::string_view t, uint64_t max) -> std::optional<uint64_t> {
      if (t.empty() || t.size() > 1 + 5 || (t.size() > 1 && t.front() == '0')) return std::nullopt;
      for (char c : t)
        if (c < '0' || c > '9') return std::nullopt;
      return parse_unsigned(t, max);
    };
    if (!version) {
      if (w.size() == 2 && w[0] == "version" && w[1] == "1") {
        version = true;
        continue;
      }
      return bad("expected \"version 1\" first, found \"" + std::string(line) + "\"");
    }
    if (w.size() == 2 && w[0] == "node") {
      auto id = num(w[1], 0xFFFE);
      if (!id || *id == 0) return bad("node: not a node id 1..65534");
      if (node) return bad("node: given twice");
      node = true;
      s.node = static_cast<uint16_t>(*id);
    } else if (w.size() == 4 && w[0] == "slot" && w[2] == "generation") {
      auto slot = num(w[1], 15);
      auto g = num(w[3], 255);
      if (!slot) return bad("slot: not a slot 0..15");
      if (!g) return bad("generation: not a number 0..255");
      if (!s.slots.emplace(static_cast<uint8_t>(*slot), static_cast<uint8_t>(*g)).second)
        return bad("slot " + std::string(w[1]) + ": given twice");
    } else if (w.size() == 6 && w[0] == "peer" && w[2] == "slot" && w[4] == "generation") {
      auto peer = num(w[1], 0xFFFE);
      auto slot = num(w[3], 15);
      auto g = num(w[5], 255);
      if (!peer || *peer == 0) return bad("peer: not a node id 1..65534");
      if (!slot) return bad("slot: not a slot 0..15");
      if (!g) return bad("generation: not a number 0..255");
      if (!s.peers[static_cast<uint16_t>(*peer)].emplace(static_cast<uint8_t>(*slot), static_cast<uint8_t>(*g)).second)
        return bad("peer " + std::string(w[1]) + " slot " + std::string(w[3]) + ": given twice");
    } else {
      return bad("not a state line: \"" + std::string(line) + "\"");
    }
  }
  if (!version) return bad("empty: no \"version 1\"");
  if (!node) return bad("no \"node\" line");
  return s;
}

Result<std::optional<SavedState>> load_state(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    if (ec) return fail(ec.value(), "read agent state", path);
    return std::optional<SavedState>{};
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(errno ? errno : EIO, "read agent state", path);
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad()) return fail(EIO, "read agent state", path);
  auto s = parse_state(text.str(), path);
  if (!s) return std::unexpected(s.error());
  return std::optional<SavedState>{std::move(*s)};
}

Status save_state(const std::string& path, const SavedState& s) {
  const std::string tmp = path + ".tmp";
  const std::string text = format_state(s);
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!fd) return fail_errno("create agent state", tmp);
  for (size_t off = 0; off < text.size();) {
    const ssize_t n = ::write(fd.get(), text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail_errno("write agent state", tmp);
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return fail_errno("fsync agent state", tmp);
  fd = Fd();
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fail_errno("rename agent state", path);
  const std::string dir = std::filesystem::path(path).parent_path().string();
  Fd d(::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!d) return fail_errno("open state directory", dir);
  if (::fsync(d.get()) != 0) return fail_errno("fsync state directory", dir);
  return {};
}

}  // namespace sealnet::agent
