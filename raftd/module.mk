raftd_SRCS := $(wildcard raftd/*.c raftd/raft/*.c)
