//===- Npy.cpp - NumPy .npy arrays of float32 -----------------------------===//
//
// Format: "\x93NUMPY", major and minor version, a little-endian header length
// (2 bytes in version 1, 4 in versions 2 and 3), then a Python dict literal
// {'descr': '<f4', 'fortran_order': False, 'shape': (T, H), } padded with
// spaces and a newline, then the data.
//
//===----------------------------------------------------------------------===//

#include "moe/Support/Npy.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

using namespace moe;

namespace {
/// The text after `'key':` in a header dict, or npos.
size_t findValue(const std::string &header, const std::string &key) {
  size_t at = header.find("'" + key + "'");
  if (at == std::string::npos)
    return at;
  at = header.find(':', at);
  if (at == std::string::npos)
    return at;
  return header.find_first_not_of(' ', at + 1);
}

bool parseShape(const std::string &header, std::vector<int64_t> &shape) {
  size_t at = findValue(header, "shape");
  if (at == std::string::npos || header[at] != '(')
    return false;
  size_t close = header.find(')', at);
  if (close == std::string::npos)
    return false;
  std::string inside = header.substr(at + 1, close - at - 1);
  std::stringstream items(inside);
  std::string item;
  while (std::getline(items, item, ',')) {
    size_t first = item.find_first_not_of(' ');
    if (first == std::string::npos)
      continue; // the trailing comma of a 1-tuple
    size_t last = item.find_last_not_of(' ');
    std::string digits = item.substr(first, last - first + 1);
    if (digits.empty() || digits.size() > 18 ||
        digits.find_first_not_of("0123456789") != std::string::npos)
      return false;
    shape.push_back(std::stoll(digits));
  }
  return true;
}
} // namespace

bool moe::readNpy(const std::string &path, NpyArray &array,
                  std::string &error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = path + ": cannot open: " + std::strerror(errno);
    return false;
  }
  char magic[8];
  if (!in.read(magic, 8) || std::memcmp(magic, "\x93NUMPY", 6) != 0) {
    error = path + ": not a .npy file (bad magic)";
    return false;
  }
  int major = static_cast<unsigned char>(magic[6]);
  uint32_t headerLength = 0;
  unsigned char lengthBytes[4] = {0, 0, 0, 0};
  int lengthSize = major == 1 ? 2 : 4;
  if (major < 1 || major > 3 ||
      !in.read(reinterpret_cast<char *>(lengthBytes), lengthSize)) {
    error = path + ": unsupported .npy version " + std::to_string(major);
    return false;
  }
  for (int i = lengthSize - 1; i >= 0; --i)
    headerLength = (headerLength << 8) | lengthBytes[i];
  std::string header(headerLength, '\0');
  if (!in.read(header.data(), headerLength)) {
    error = path + ": truncated header";
    return false;
  }
  size_t descr = findValue(header, "descr");
  if (descr == std::string::npos || (header.compare(descr, 5, "'<f4'") != 0 &&
                                     header.compare(descr, 5, "'=f4'") != 0)) {
    error = path + ": dtype must be float32 ('<f4')";
    return false;
  }
  size_t fortran = findValue(header, "fortran_order");
  if (fortran == std::string::npos ||
      header.compare(fortran, 5, "False") != 0) {
    error = path + ": array must be in C order (fortran_order False)";
    return false;
  }
  array.shape.clear();
  if (!parseShape(header, array.shape)) {
    error = path + ": cannot read the shape";
    return false;
  }
  int64_t count = 1;
  for (int64_t d : array.shape) {
    if (d != 0 && count > (int64_t(1) << 40) / d) {
      error = path + ": shape is too large";
      return false;
    }
    count *= d;
  }
  array.data.resize(count);
  if (!in.read(reinterpret_cast<char *>(array.data.data()),
               static_cast<std::streamsize>(count * sizeof(float)))) {
    error = path + ": truncated data: expected " +
            std::to_string(count * sizeof(float)) + " bytes";
    return false;
  }
  return true;
}

bool moe::writeNpy(const std::string &path, const NpyArray &array,
                   std::string &error) {
  std::string shape = "(";
  for (size_t i = 0; i < array.shape.size(); ++i)
    shape += std::to_string(array.shape[i]) + ", ";
  if (array.shape.size() > 1)
    shape.resize(shape.size() - 2);
  else if (array.shape.size() == 1)
    shape.resize(shape.size() - 1);
  shape += ")";
  std::string header =
      "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }";
  // Pad so that magic + length + header is a multiple of 64, ending in \n.
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::ofstream out(path, std::ios::binary);
  if (!out) {
    error = path + ": cannot write: " + std::strerror(errno);
    return false;
  }
  out.write("\x93NUMPY\x01\x00", 8);
  uint16_t length = static_cast<uint16_t>(header.size());
  out.put(static_cast<char>(length & 0xff));
  out.put(static_cast<char>(length >> 8));
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  out.write(reinterpret_cast<const char *>(array.data.data()),
            static_cast<std::streamsize>(array.data.size() * sizeof(float)));
  if (!out) {
    error = path + ": write failed";
    return false;
  }
  return true;
}
