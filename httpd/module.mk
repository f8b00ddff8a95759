httpd_SRCS := $(wildcard httpd/*.c)

# The web UI: httpd/ui/'s files, compiled into libhttpd.a as byte arrays
# (httpd/ui_embed.py; ui.h declares the table)
ui_FILES := $(sort $(wildcard httpd/ui/*.html httpd/ui/*.js httpd/ui/*.css \
              httpd/ui/*.svg httpd/ui/*.png))
$(B)/libhttpd.a: $(B)/httpd/ui_assets.o
$(B)/httpd/ui_assets.c: httpd/ui_embed.py $(ui_FILES)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  GEN     $@")
	$(Q)python3 httpd/ui_embed.py $@ $(ui_FILES)
$(B)/httpd/ui_assets.o: $(B)/httpd/ui_assets.c
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(ALL_CFLAGS) -Ihttpd -c $< -o $@
