// Expected failures as values. A function that can fail for reasons its caller must handle (a
// bad request, an unreachable backend) returns Result<T, E>: either the value or the error that
// says why there is none. [[nodiscard]]: a failure cannot be dropped by accident.
// The one exception type (core/error.h) is for what no caller can handle; front-ends catch it.
#pragma once
#include <utility>
#include <variant>

namespace smacs {

template <class E>
struct Failure {
  E error;
};
// `return failure(ApiError{...});` builds the error side of any Result<T, E>.
template <class E>
Failure<E> failure(E error) {
  return {std::move(error)};
}

template <class T, class E>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  Result(Failure<E> f) : v_(std::in_place_index<1>, std::move(f.error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const E& error() const { return std::get<1>(v_); }
  E& error() { return std::get<1>(v_); }

 private:
  std::variant<T, E> v_;
};

}  // namespace smacs
