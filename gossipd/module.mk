gossipd_SRCS := $(wildcard gossipd/*.c)
