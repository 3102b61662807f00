"""Run inside Blender: import a .glb with Blender's own glTF importer and print, as one JSON line,
the world position of every bone head (glTF's Y-up frame) at the given scene frames, plus what
was imported. Usage:
    blender -b --factory-startup --python tests/tools/blender_pose_glb.py -- FILE.glb FPS FRAME [FRAME ...]
"""
import json
import sys

import bpy  # noqa: E402  (Blender's bundled module)
import numpy

# Debian's Blender 3.4 importer still says np.bool, which numpy >= 1.24 no longer has.
if "bool" not in vars(numpy):
    numpy.bool = numpy.bool_

args = sys.argv[sys.argv.index("--") + 1:]
path, fps, frames = args[0], float(args[1]), [int(f) for f in args[2:]]
bpy.ops.wm.read_factory_settings(use_empty=True)
bpy.context.scene.render.fps = int(round(fps))
bpy.context.scene.render.fps_base = 1.0
bpy.ops.import_scene.gltf(filepath=path)
arm = next(o for o in bpy.context.scene.objects if o.type == "ARMATURE")
meshes = [o for o in bpy.context.scene.objects if o.type == "MESH"]
action = arm.animation_data.action if arm.animation_data else None
out = {"bones": [b.name for b in arm.pose.bones], "meshes": {o.name: len(o.data.vertices) for o in meshes},
       "skinned": [o.name for o in meshes if any(m.type == "ARMATURE" for m in o.modifiers)],
       "materials": sorted({s.material.name for o in meshes for s in o.material_slots if s.material}),
       "frame_range": list(action.frame_range) if action else None, "poses": {}}
for frame in frames:
    bpy.context.scene.frame_set(frame)
    # Blender is Z-up: glTF (x, y, z) was imported as (x, -z, y).
    out["poses"][frame] = {b.name: [(arm.matrix_world @ b.head)[i] for i in range(3)] for b in arm.pose.bones}
for frame, bones in out["poses"].items():
    out["poses"][frame] = {name: [p[0], p[2], -p[1]] for name, p in bones.items()}
print("BLENDER_JSON " + json.dumps(out))
