# shellcheck shell=bash
# Sourced by docker/test and docker/lb-test: free_port prints a TCP port on 127.0.0.1 that no
# socket holds now.
#
# The port is drawn below the kernel's ephemeral range (net.ipv4.ip_local_port_range). Other tests
# run beside these ones (ctest -j) and bind port 0, and every outgoing connection takes a local
# port: all of those come from the ephemeral range. A port drawn from it may be free when checked
# and taken before podman binds it ("bind: address already in use"); a port below it can only be
# taken by a process that asks for it by number.
free_port() {
  local low=32768 p
  read -r low _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
  ((low > 11024)) || low=32768   # a range that starts low leaves no room below it: use 10000–32767
  for _ in $(seq 100); do
    p=$((10000 + RANDOM % (low - 10000)))
    # Bound, not just unconnectable: a bind also fails on a port that a connection holds.
    if command -v python3 >/dev/null; then
      python3 -c 'import socket,sys; socket.socket().bind(("127.0.0.1", int(sys.argv[1])))' \
        "$p" 2>/dev/null || continue
    elif (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      continue   # (without python3: only a listener is seen)
    fi
    echo "$p"
    return 0
  done
  return 1
}
