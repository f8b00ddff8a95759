raftd_SRCS := $(wildcard raftd/*.c)
