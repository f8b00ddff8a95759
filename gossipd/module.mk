gossipd_SRCS := $(wildcard gossipd/*.c gossipd/swim/*.c)
