dnsd_SRCS := $(wildcard dnsd/*.c)
