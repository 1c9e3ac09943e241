rule fetch:
    """One raw file: the selected messages by ranged GET, verified, with its .idx and sidecar."""
    output:
        grib=paths.RAW.format(root=ROOT, source="{source}", cycle="{cycle}", step="{step}"),
        idx=paths.RAW_IDX.format(root=ROOT, source="{source}", cycle="{cycle}", step="{step}"),
        sidecar=paths.SIDECAR.format(
            root=ROOT, source="{source}", cycle="{cycle}", step="{step}"
        ),
    params:
        spec=fetch_spec,
    log:
        f"{ROOT}/logs/fetch/{{source}}/{{cycle}}/{{step}}.log",
    resources:
        downloads=1,
    shell:
        "gridflow fetch --spec {params.spec:q} --grib {output.grib:q} --idx {output.idx:q}"
        " --sidecar {output.sidecar:q} 2>&1 | tee {log:q}"
