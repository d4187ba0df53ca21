/*
 * vllm-healthcheck: the image's HEALTHCHECK. The runtime images have no shell or curl, so this small
 * static program asks GET /health of the local server and exits 0 on a 200, 1 otherwise.
 * Usage: vllm-healthcheck [PORT [PATH]]   (default 8000 /health; $VLLM_PORT also sets the port)
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static int fail(const char *why) {
  fprintf(stderr, "vllm-healthcheck: %s\n", why);
  return 1;
}

int main(int argc, char **argv) {
  const char *port_arg = argc > 1 ? argv[1] : getenv("VLLM_PORT");
  const char *path = argc > 2 ? argv[2] : "/health";
  int port = port_arg != NULL && *port_arg != '\0' ? atoi(port_arg) : 8000;
  if (port <= 0 || port > 65535) return fail("bad port");

  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return fail("socket failed");
  /* A wedged server must fail the check, not hang it. */
  struct timeval timeout = {.tv_sec = 5, .tv_usec = 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) return fail("cannot connect");

  char req[512];
  int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nConnection: close\r\n\r\n", path, port);
  if (n <= 0 || n >= (int)sizeof req || write(fd, req, (size_t)n) != n) return fail("cannot send the request");

  char status[64] = {0};
  ssize_t got = 0;
  while (got < (ssize_t)sizeof status - 1) {
    ssize_t r = read(fd, status + got, sizeof status - 1 - (size_t)got);
    if (r <= 0) break;
    got += r;
  }
  close(fd);
  /* "HTTP/1.1 200 OK": only the status code matters. */
  if (strncmp(status, "HTTP/1.", 7) != 0 || strlen(status) < 12) return fail("no HTTP answer");
  if (strncmp(status + 9, "200", 3) != 0) {
    fprintf(stderr, "vllm-healthcheck: %.12s\n", status);
    return 1;
  }
  return 0;
}
