/* notify.h - readiness and state reports to the service manager
 * (sd_notify(3) protocol: systemd, or `cairn agent`, or a test harness
 * that binds $NOTIFY_SOCKET itself).  No-ops when $NOTIFY_SOCKET is unset. */
#ifndef CAIRN_NOTIFY_H
#define CAIRN_NOTIFY_H

void notify_ready(const char *status);	 /* READY=1 + STATUS= */
void notify_reloading(void);		 /* RELOADING=1 */
void notify_stopping(void);		 /* STOPPING=1 */
void notify_status(const char *status);	 /* STATUS= */

#endif
