httpd_SRCS := $(wildcard httpd/*.c)
