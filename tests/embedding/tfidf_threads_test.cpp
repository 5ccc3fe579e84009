// TF-IDF embeds a SMACS round's few replies on the calling thread. It used to start two threads
// per call (parallel_for), about 1,400 a second on a busy gateway: start-up and join cost more
// than the embedding, and the caller (then the backends' shared I/O thread) waited for them.
#include <gtest/gtest.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <string>
#include <thread>
#include <vector>

#include "embedding/tfidf.h"

namespace smacs {
namespace {

// From here on this process cannot start a thread: clone3 says ENOSYS (glibc then tries clone)
// and clone says EPERM, so std::thread throws. For a forked death-test child only.
bool forbid_new_threads() {
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone3, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog program{.len = sizeof filter / sizeof filter[0], .filter = filter};
  return ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
         ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) == 0;
}

TEST(TfidfThreads, AFewRepliesAreEmbeddedWithoutStartingAThread) {
  TfidfEmbedder e;
  const std::vector<std::string> replies = {"The answer is photosynthesis, in the leaves.",
                                            "Plants absorb carbon dioxide from the air.",
                                            "Carbon dioxide; they release oxygen."};
  const auto want = e.embed_all(replies);  // with threads allowed: the same vectors below
  EXPECT_EXIT(
      {
        if (!forbid_new_threads()) ::_exit(2);
        try {
          const auto got = e.embed_all(replies);
          bool same = got.size() == want.size();
          for (size_t i = 0; same && i < got.size(); ++i)
            same = got[i].idx == want[i].idx && got[i].val == want[i].val;
          ::_exit(same ? 0 : 3);
        } catch (...) {
          ::_exit(4);  // it tried to start a thread
        }
      },
      ::testing::ExitedWithCode(0), "");
}

TEST(TfidfThreads, TheFilterStopsAThreadFromStarting) {  // so the test above can fail
  EXPECT_EXIT(
      {
        if (!forbid_new_threads()) ::_exit(2);
        try {
          std::thread t([] {});
          t.join();
          ::_exit(0);
        } catch (...) {
          ::_exit(4);
        }
      },
      ::testing::ExitedWithCode(4), "");
}

}  // namespace
}  // namespace smacs
