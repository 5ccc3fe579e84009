// A throw-away PostgreSQL 15 server for the tests: a fresh cluster in a temp folder, on a free
// loopback port, run as an unprivileged user when the tests run as root (postgres refuses
// root). Stopped and deleted when the object goes. No mocks: the real server from Debian.
#pragma once
#include <libpq-fe.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>

#include "test_label.h"

namespace smacs::test {

inline int free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t n = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &n);
  ::close(fd);
  return ntohs(a.sin_port);
}

class PostgresServer {
 public:
  static constexpr const char* kBin = "/usr/lib/postgresql/15/bin/";

  static bool available() { return std::filesystem::exists(std::string(kBin) + "postgres"); }

  PostgresServer() : port_(free_loopback_port()) {
    dir_ = std::filesystem::temp_directory_path() /
           ("smacs-pg-" + std::to_string(::getpid()) + "-" + std::to_string(port_));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    if (::geteuid() == 0) {
      as_ = "runuser -u nobody -- ";
      run("chown nobody " + dir_.string());
    }
    run(as_ + kBin + "initdb -D " + (dir_ / "data").string() +
        " -U smacs --auth=trust --no-sync -E UTF8 >" + (dir_ / "initdb.log").string() + " 2>&1");
    start();
  }
  ~PostgresServer() {
    stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  void start() {
    test::integration_only("PostgreSQL");
    run(as_ + kBin + "pg_ctl -D " + (dir_ / "data").string() + " -w -t 30 -l " +
        (dir_ / "server.log").string() + " -o \"-p " + std::to_string(port_) + " -k " +
        dir_.string() + " -c listen_addresses=127.0.0.1 -c fsync=off" +
        " -c max_connections=200\" start >/dev/null");
  }
  void stop() {
    std::system((as_ + kBin + "pg_ctl -D " + (dir_ / "data").string() +
                 " -w -t 30 -m fast stop >/dev/null 2>&1")
                    .c_str());
  }
  int port() const { return port_; }
  std::string url(const std::string& db = "postgres") const {
    return "postgresql://smacs@127.0.0.1:" + std::to_string(port_) + "/" + db;
  }
  // A new empty database on this server: its URL.
  std::string fresh_database(const std::string& name) const {
    PGconn* c = PQconnectdb(url().c_str());
    PQsetNoticeProcessor(
        c, [](void*, const char*) {}, nullptr);
    const std::string sql = "DROP DATABASE IF EXISTS " + name + "; ";
    PQclear(PQexec(c, sql.c_str()));
    PGresult* r = PQexec(c, ("CREATE DATABASE " + name).c_str());
    const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    PQfinish(c);
    if (!ok) throw std::runtime_error("cannot create database " + name);
    return url(name);
  }
  // One SQL statement's first value ("" when none), for checks.
  std::string scalar(const std::string& db_url, const std::string& sql) const {
    PGconn* c = PQconnectdb(db_url.c_str());
    PGresult* r = PQexec(c, sql.c_str());
    std::string out =
        PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "";
    PQclear(r);
    PQfinish(c);
    return out;
  }

 private:
  void run(const std::string& cmd) const {
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("failed: " + cmd);
  }
  int port_;
  std::filesystem::path dir_;
  std::string as_;
};

}  // namespace smacs::test
