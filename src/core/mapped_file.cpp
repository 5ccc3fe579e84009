#include "core/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>

namespace smacs {

// In pieces: munmap of a whole million-question snapshot (400 MB, its pages mapped) held the
// process's memory map for 40-100 ms, and any thread that maps memory meanwhile (the
// allocator, for a request) waited; slow pass-through requests beside reloads lined up with
// it. Dropping the pages 8 MiB at a time lets others in between; the munmap is then quick.
MappedFile::~MappedFile() {
  if (!data) return;
  constexpr size_t kPiece = size_t{8} << 20;
  for (size_t at = 0; at < size; at += kPiece)
    ::madvise(const_cast<char*>(data) + at, std::min(kPiece, size - at), MADV_DONTNEED);
  ::munmap(const_cast<char*>(data), size);
}

namespace {

// Every page read in and mapped now, by the caller (a reload's thread at the lowest priority):
// a reload maps its snapshot anew, and without it the requests searching the new index took
// most of its page faults (12,408 against 2,384 sampled on the request path over ten reloads
// of a million-question bank; docs/results.md). By touching each page, not MAP_POPULATE: that
// maps them all holding the process's memory map (mmap_lock) for as long as it takes, 34-98 ms
// for a 400 MB snapshot on a reload's thread (the kernel's mmap_lock tracepoints), and every
// thread that maps memory meanwhile, such as the allocator for a request, waited behind it. A
// page fault holds only its own mapping's lock.
void map_every_page(const MappedFile& m) {
  static const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  const volatile char* bytes = m.data;  // volatile: each read is made
  for (size_t at = 0; at < m.size; at += page) (void)bytes[at];
}

}  // namespace

std::shared_ptr<const MappedFile> map_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return nullptr;
  auto m = std::make_shared<MappedFile>();
  if (::fstat(fd, &m->st) == 0 && m->st.st_size > 0) {
    void* p = ::mmap(nullptr, static_cast<size_t>(m->st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
    if (p != MAP_FAILED) {
      m->data = static_cast<const char*>(p);
      m->size = static_cast<size_t>(m->st.st_size);
      map_every_page(*m);
    }
  }
  ::close(fd);
  return m->data ? m : nullptr;
}

}  // namespace smacs
