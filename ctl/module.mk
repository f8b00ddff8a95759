ctl_SRCS := $(wildcard ctl/*.c)
ctl_OBJS := $(patsubst %.c,$(B)/%.o,$(ctl_SRCS))
