// Command deploybench measures deploys (make bench-deploy): a site of 4,000
// files and about 50 MB, deployed, deployed again unchanged, and deployed
// with 100 files changed, by fazt fs sync locally (through the socket) and
// remotely (the API over loopback HTTP), and by the peers measured in the
// same run: rsync into the mount, rsync over SSH (Debian's openssh-server on
// loopback) to a plain directory, and rclone sync over the WebDAV API.
package main
