"""cc_merged_archive: one static archive of a workspace's own C++ libraries.

Collects, from the CcInfo of `deps`, every static library owned by this
workspace (the PIC archive where there is one, so the result links into
position-independent executables and shared objects alike) and merges them
into one archive with `ar -M`. Libraries of external repositories (the
Debian packages of third_party/) are left out: a user of the archive links
them from the system, as the .pc file and the CMake package say.
"""

def _cc_merged_archive_impl(ctx):
    cc_toolchain = ctx.attr._cc_toolchain[cc_common.CcToolchainInfo]
    archives = []
    for dep in ctx.attr.deps:
        for linker_input in dep[CcInfo].linking_context.linker_inputs.to_list():
            if linker_input.owner.workspace_name != "":
                continue
            for lib in linker_input.libraries:
                a = lib.pic_static_library or lib.static_library
                if a != None and a not in archives:
                    archives.append(a)
    if not archives:
        fail("no static library of this workspace in " + str(ctx.attr.deps))
    out = ctx.outputs.out

    # An MRI script: ADDLIB copies every member, so members of the same name
    # in two libraries (error.o, ...) stay distinct.
    mri = ctx.actions.declare_file(ctx.label.name + ".mri")
    ctx.actions.write(
        mri,
        "\n".join(["CREATE " + out.path] +
                  ["ADDLIB " + a.path for a in archives] +
                  ["SAVE", "END", ""]),
    )
    ctx.actions.run_shell(
        inputs = depset([mri] + archives, transitive = [cc_toolchain.all_files]),
        outputs = [out],
        command = "'{ar}' -M < '{mri}' && '{ar}' s '{out}'".format(
            ar = cc_toolchain.ar_executable,
            mri = mri.path,
            out = out.path,
        ),
        mnemonic = "MergeArchives",
        progress_message = "Merging %d archives into %s" % (len(archives), out.short_path),
    )
    return [DefaultInfo(
        files = depset([out]),
        runfiles = ctx.runfiles(files = [out]),
    )]

cc_merged_archive = rule(
    implementation = _cc_merged_archive_impl,
    attrs = {
        "deps": attr.label_list(providers = [CcInfo], mandatory = True),
        "out": attr.output(mandatory = True),
        "_cc_toolchain": attr.label(
            default = "@bazel_tools//tools/cpp:current_cc_toolchain",
        ),
    },
    fragments = ["cpp"],
)
