checkd_SRCS := $(wildcard checkd/*.c)
