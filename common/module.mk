common_SRCS := $(wildcard common/*.c)
common_OBJS := $(patsubst %.c,$(B)/%.o,$(common_SRCS))
