// flock(fd, op): the state directory's lock (Node has no flock). The kernel
// drops it when the process dies, kill -9 included, so no stale lock files.
#include "common.h"
#include <sys/file.h>
#include <cerrno>

namespace cnm {

// flock(fd, lock): lock=true takes an exclusive lock without waiting (false:
// someone else holds it); lock=false releases it.
static Napi::Value Flock(const Napi::CallbackInfo& info) {
  int fd = info[0].As<Napi::Number>().Int32Value();
  int op = info[1].ToBoolean().Value() ? LOCK_EX : LOCK_UN;
  if (op != LOCK_UN) op |= LOCK_NB;
  int r;
  do { r = flock(fd, op); } while (r < 0 && errno == EINTR);
  if (r < 0 && errno == EWOULDBLOCK) return Napi::Boolean::New(info.Env(), false);
  if (r < 0) ThrowErrno(info.Env(), errno, "flock");
  return Napi::Boolean::New(info.Env(), true);
}

void InitFlock(Napi::Env env, Napi::Object exports) {
  exports.Set("flock", Napi::Function::New(env, Flock));
}

}  // namespace cnm
