#include "core/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

namespace smacs {

MappedFile::~MappedFile() {
  if (data) ::munmap(const_cast<char*>(data), size);
}

std::shared_ptr<const MappedFile> map_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return nullptr;
  auto m = std::make_shared<MappedFile>();
  if (::fstat(fd, &m->st) == 0 && m->st.st_size > 0) {
    void* p = ::mmap(nullptr, static_cast<size_t>(m->st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
    if (p != MAP_FAILED) {
      m->data = static_cast<const char*>(p);
      m->size = static_cast<size_t>(m->st.st_size);
      ::madvise(p, m->size, MADV_WILLNEED);
    }
  }
  ::close(fd);
  return m->data ? m : nullptr;
}

}  // namespace smacs
