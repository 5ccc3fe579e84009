#include "server/http_util.h"

#include <sys/socket.h>

#include "core/error.h"

namespace smacs {

void configure_http_server(httplib::Server& server, size_t threads, size_t max_body_bytes) {
  server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server.set_keep_alive_max_count(100000);  // Debian's build caps keep-alive at 5 requests
  server.set_tcp_nodelay(true);             // no Nagle + delayed-ACK stalls (40 ms a request)
  server.set_keep_alive_timeout(30);
  server.set_payload_max_length(max_body_bytes);
  server.set_error_handler(
      httplib::Server::HandlerWithResponse([](const httplib::Request&, httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        ApiError e;
        e.status = res.status;
        if (res.status == 404)
          e.message = "no such endpoint", e.code = "not_found";
        else if (res.status == 413)
          e.message = "the request body is larger than the server accepts",
          e.code = "request_too_large";
        else
          e.message = "the request failed with HTTP " + std::to_string(res.status);
        send_error(res, e);
        return httplib::Server::HandlerResponse::Handled;
      }));
  server.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        ApiError e;
        e.status = 500, e.type = "server_error";
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& ex) {
          e.message = std::string("internal error: ") + ex.what();
        } catch (...) {
          e.message = "internal error";
        }
        send_error(res, e);
      });
}

int bind_http_server(httplib::Server& server, const std::string& host, int port) {
  // Debian's compiled httplib listens with a backlog of 5: a burst of new connections then
  // waits out a 1 s SYN retransmit. The socket-options hook sees the listening socket, so
  // listen() again with the system's maximum (Linux updates the backlog in place).
  auto listen_fd = std::make_shared<int>(-1);
  server.set_socket_options([listen_fd](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    *listen_fd = sock;
  });
  const int bound = port == 0 ? server.bind_to_any_port(host.c_str())
                              : (server.bind_to_port(host.c_str(), port) ? port : -1);
  if (bound <= 0)
    throw Error("cannot listen on " + host + ":" + std::to_string(port) +
                " (address in use or not allowed)");
  if (*listen_fd >= 0) ::listen(*listen_fd, SOMAXCONN);
  return bound;
}

}  // namespace smacs
