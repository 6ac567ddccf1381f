// Command ctlbench measures the control plane (make bench-ctl): the latency
// of a control write and a status read through the mount, of a route added
// through the local API and through the CLI, and 1,000 route creations
// followed by ls | wc -l. Peers measured in the same run: the same write to a
// file on the bare disk, and to a file in fazt's /fs through the same mount.
// It prints medians (and 90th percentiles) as a Markdown table.
package main
