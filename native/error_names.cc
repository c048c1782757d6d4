// errno -> its name ("EXFULL"), without Node: shared by the addon and the
// parse cores the fuzz harnesses link.
#include <cerrno>
#include <cstring>

namespace cnm {

const char* ErrnoName(int err) {
  switch (err) {
#define E(x) case x: return #x;
    // The names the addon always gave, where errno has aliases.
    E(EAGAIN) E(EOPNOTSUPP) E(EDEADLK)
#undef E
    default: break;
  }
  const char* n = strerrorname_np(err);
  return n ? n : "EUNKNOWN";
}

}  // namespace cnm
